"""Chinese by default, English second; the language switch sticks."""

from __future__ import annotations

from kernel import i18n


async def test_chinese_is_the_default(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert '<html lang="zh-CN">' in response.text


async def test_lang_query_switches_and_sticks(client):
    response = await client.get("/?lang=en")
    assert '<html lang="en">' in response.text
    assert "lang=en" in response.headers["set-cookie"]
    again = await client.get("/")  # the cookie carries the choice
    assert '<html lang="en">' in again.text


async def test_switch_route_redirects_back_only_to_local_paths(client):
    response = await client.get("/lang/en?next=/healthz")
    assert response.status_code == 303 and response.headers["location"] == "/healthz"
    response = await client.get("/lang/en?next=//evil.example.com/")
    assert response.headers["location"] == "/"


async def test_errors_are_translated(client):
    zh = await client.get("/no-such-page")
    assert zh.status_code == 404 and "页面不存在" in zh.text
    en = await client.get("/no-such-page?lang=en")
    assert en.status_code == 404 and "Page not found" in en.text


def test_every_english_catalog_entry_is_translated():
    from babel.messages.pofile import read_po

    for po in sorted(i18n.LOCALE_DIR.parent.parent.glob("*/locale/en/LC_MESSAGES/*.po")):
        with po.open("rb") as handle:
            catalog = read_po(handle)
        missing = [m.id for m in catalog if m.id and not m.string]
        assert not missing, f"{po}: untranslated {missing[:5]}"


async def test_demo_banner_is_on_every_face_while_the_demo_provider_runs(client):
    for path in ("/", "/verify", "/admin/login", "/no-such-page"):
        response = await client.get(path)
        assert "演示 / DEMO" in response.text, path
