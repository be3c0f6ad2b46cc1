"""Refusals of the tree-planting duty: bad rules, requests and rosters, each a clear 4xx."""

from __future__ import annotations

from registry.errors import NotFound, RegisterError


class NoPlantingRule(RegisterError):
    code = "no_planting_rule"
    message = "该年度尚未设定义务植树折算标准，暂不受理"


class InvalidPlantingRule(RegisterError):
    code = "invalid_planting_rule"
    message = "义务植树折算标准无效：每株折合林票数和每人尽责株数须为正整数，并须填写受赠机构和依据"


class InvalidTrees(RegisterError):
    code = "invalid_trees"
    message = "植树株数须为3至5株"


class InvalidYear(RegisterError):
    code = "invalid_year"
    message = "年度无效"


class DeclarationRequired(RegisterError):
    code = "declaration_required"
    message = "未填写身份证号码时，请声明是否属于义务植树适龄公民"


class IdConsentRequired(RegisterError):
    code = "id_consent_required"
    message = "填写身份证号码前，请阅读《个人信息保护说明》并勾选同意；不同意可不填身份证号码"


class RosterConsentRequired(RegisterError):
    code = "roster_consent_required"
    message = "上传名单前，请确认已告知名单中每位人员并取得其同意，由本单位提供其姓名和身份证号码用于义务植树尽责"


class InvalidPlantingName(RegisterError):
    code = "invalid_planting_name"
    message = "请填写证书上的姓名（不超过100字）"


class InvalidOrganisation(RegisterError):
    code = "invalid_organisation"
    message = "请填写单位名称和联系方式（各不超过200字）"


class NothingToPay(RegisterError):
    code = "nothing_to_pay"
    message = "名单中没有可付款的人员"


class RosterNotFound(NotFound):
    code = "roster_not_found"
    message = "未找到该单位名单"
