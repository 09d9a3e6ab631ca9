"""The partner registry and the partner secrets read by naming convention."""

from types import SimpleNamespace

import pytest

from shared.config import ConfigError, PartnerSecret, settings_from
from shared.partners import PARTNERS, REPORTING, _checked, adyen, column, generic, plugin, stripe
from shared.partners.base import Partner


def test_every_plugin_is_a_partner_declared_once():
    assert list(PARTNERS) == ["stripe", "adyen", "generic", "column", "lakeside"]
    assert all(isinstance(p, Partner) for p in PARTNERS.values())
    assert plugin("column") is column
    assert REPORTING == ("stripe", "adyen")


def test_a_plugin_missing_a_member_fails_at_registration():
    incomplete = SimpleNamespace(__name__="acme", NAME="acme", KEPT_HEADERS=(), SECRETS=(), BANK=None)
    missing = "REPORT_FORMAT, TRANSFER_API, acknowledge, legacy_versions, parse, verify"
    with pytest.raises(TypeError, match=rf"acme lacks {missing}"):
        _checked(incomplete)


def test_a_secret_off_the_naming_convention_fails_at_registration():
    names = ("KEPT_HEADERS", "REPORT_FORMAT", "BANK", "TRANSFER_API", "verify", "parse")
    members = {m: getattr(generic, m) for m in names}
    members |= {"acknowledge": generic.acknowledge, "legacy_versions": generic.legacy_versions}
    misnamed = SimpleNamespace(__name__="acme", NAME="acme", SECRETS=(PartnerSecret("WEBHOOK_KEY"),), **members)
    with pytest.raises(TypeError, match=r"secret WEBHOOK_KEY must be named ACME_…"):
        _checked(misnamed)
    unclassified = SimpleNamespace(**{**vars(misnamed), "SECRETS": (PartnerSecret("ACME_WEBHOOK_SECRETS"),)})
    with pytest.raises(TypeError, match="CLOUD_SOURCES"):
        _checked(unclassified)


def test_settings_read_each_partners_secrets_by_their_variable_names():
    cfg = settings_from(
        {
            "STRIPE_WEBHOOK_SECRET": "whsec_a, whsec_b,",
            "STRIPE_API_KEY": "sk_test_a",
            "ADYEN_HMAC_KEYS": "0A1B,2c3d",
            "ADYEN_BASIC_AUTH": "user:pw,not-a-pair, other:pw2",
            "COLUMN_WEBHOOK_SECRETS": "c1",
            "UNRELATED_SECRET": "never read",
        }
    )
    assert cfg.partner_secrets(stripe) == {
        "STRIPE_WEBHOOK_SECRET": ("whsec_a", "whsec_b"),
        "STRIPE_API_KEY": ("sk_test_a",),
    }
    assert cfg.partner_secrets(adyen) == {
        "ADYEN_HMAC_KEYS": ("0A1B", "2c3d"),
        "ADYEN_BASIC_AUTH": ("user:pw", "other:pw2"),
    }
    assert cfg.partner_secrets(generic) == {"GENERIC_WEBHOOK_SECRETS": ()}
    assert cfg.webhook_secrets("column") == ("c1",)
    assert "UNRELATED_SECRET" not in cfg.secrets
    assert "whsec_a" not in repr(cfg)


def test_a_malformed_hex_key_is_a_config_error_naming_the_variable():
    cfg = settings_from({"ADYEN_HMAC_KEYS": "0A1B,not-hex"})
    with pytest.raises(ConfigError, match="ADYEN_HMAC_KEYS must be comma-separated hex keys"):
        cfg.secret(adyen.HMAC_KEYS)


def test_the_intake_service_refuses_to_start_on_a_malformed_partner_secret():
    """Checked when intake builds its service (every request fails, loudly), not on the first Adyen webhook."""
    from shared import bootstrap

    root = bootstrap.Root(settings_from({"ADYEN_HMAC_KEYS": "0A1B,not-hex"}))
    root.inbox = object()  # no Datastore: the check runs before anything is used
    with pytest.raises(ConfigError, match="ADYEN_HMAC_KEYS"):
        bootstrap.intake(root)
