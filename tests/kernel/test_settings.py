"""Settings come from LINPIAO_* variables and .env; production refuses unsafe configurations."""

from __future__ import annotations

import pytest

from kernel.settings import SettingsError, load_settings


def test_defaults_are_the_embedded_sqlite_file():
    settings = load_settings({}, env_file="/nonexistent")
    assert settings.database_url == "sqlite://linpiao.db"
    assert settings.env == "development"


def test_environment_and_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("LINPIAO_BASE_URL=https://linpiao.example.cn/\nLINPIAO_SECRET_KEY=from-file\n")
    settings = load_settings(
        {"LINPIAO_SECRET_KEY": "from-env", "LINPIAO_DATABASE_URL": "postgresql://u@h:5432/d"},
        env_file=env_file,
    )
    assert settings.secret_key == "from-env"  # the real environment wins over .env
    assert settings.base_url == "https://linpiao.example.cn"
    assert settings.https
    assert settings.database_url == "postgres://u@h:5432/d"


def test_production_ignores_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("LINPIAO_SECRET_KEY=from-file\n")
    settings = load_settings({"LINPIAO_ENV": "production"}, env_file=env_file)
    assert settings.secret_key != "from-file"


@pytest.mark.parametrize(
    "environ",
    [
        {"LINPIAO_ENV": "production", "LINPIAO_STRIPE_SECRET_KEY": "sk_live_x"},  # default secret
        {"LINPIAO_ENV": "production", "LINPIAO_SECRET_KEY": "s" * 40},  # demo payment provider
    ],
)
def test_production_refuses_default_secret_or_demo_payments(environ):
    with pytest.raises(SettingsError):
        load_settings(environ, env_file="/nonexistent").check()


def test_production_with_secret_and_stripe_is_accepted():
    load_settings(
        {
            "LINPIAO_ENV": "production",
            "LINPIAO_SECRET_KEY": "s" * 40,
            "LINPIAO_STRIPE_SECRET_KEY": "sk_live_x",
        },
        env_file="/nonexistent",
    ).check()
