import pytest

from shared.config import ConfigError, load_dev_env, read_env_file, settings_from


def test_env_file_parsing(tmp_path):
    path = tmp_path / "dev.env"
    path.write_text("# comment\n\nA=1\nB = two words\nSECRET=whsec_x=y\n")
    assert read_env_file(path) == {"A": "1", "B": "two words", "SECRET": "whsec_x=y"}


def test_env_file_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "dev.env"
    path.write_text("A=1\nnot a setting\n")
    with pytest.raises(ConfigError, match=r"dev.env:2"):
        read_env_file(path)


def test_environment_wins_over_file_and_cloud_ignores_file(tmp_path):
    path = tmp_path / "dev.env"
    path.write_text("INTAKE_PORT=1111\nAPI_PORT=2222\n")
    env = {"LEDGERLINE_DEV_ENV": str(path), "INTAKE_PORT": "9999"}
    load_dev_env(env)
    assert (env["INTAKE_PORT"], env["API_PORT"]) == ("9999", "2222")
    cloud = {"LEDGERLINE_DEV_ENV": str(path), "K_SERVICE": "intake"}
    load_dev_env(cloud)
    assert "API_PORT" not in cloud


def test_settings_derive_local_urls_and_secrets():
    cfg = settings_from(
        {"LEDGERLINE_ENV": "local", "INTAKE_PORT": "9080", "STRIPE_WEBHOOK_SECRET": "whsec_a, whsec_b,"}
    )
    assert cfg.function_urls["intake"] == "http://127.0.0.1:9080"
    assert cfg.webhook_secrets("stripe") == ("whsec_a", "whsec_b")
    assert cfg.webhook_secrets("adyen") == ()
    assert cfg.push_endpoint("ledger", "t") == "http://127.0.0.1:8082/projects/ledgerline-local/topics/t"


def test_cloud_has_no_emulator_hosts_and_needs_urls():
    cfg = settings_from({"K_SERVICE": "intake", "RETRIES_URL": "https://retries-xyz.a.run.app/"})
    assert cfg.env == "cloud" and cfg.tasks_emulator_host is None and cfg.bigquery_emulator_host is None
    assert cfg.function_urls["retries"] == "https://retries-xyz.a.run.app"


def test_bad_port_is_a_clear_error():
    with pytest.raises(ConfigError, match="INTAKE_PORT"):
        settings_from({"INTAKE_PORT": "eighty"})
