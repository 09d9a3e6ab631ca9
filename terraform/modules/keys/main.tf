# Cloud KMS keys that wrap the per-record data keys of sealed secrets (shared/payments/vault.py,
# shared/adapters/kms_keys.py): one crypto key per topology.json `kms.keys` entry (account numbers of
# payouts, tenants' webhook signing secrets, ...). Who may encrypt and who may decrypt is granted per
# key and function from topology `cloud.access.kms` (key name => encrypt | decrypt | encrypt_decrypt):
# a function that only seals cannot open, one that only opens cannot seal. Rotated every 90 days: new
# versions wrap new data keys, old versions still open old ones.
#
# The key ring keeps its first name, `ledgerline-payments`, though it holds every key: key rings cannot
# be deleted or renamed, and a new ring would mean new keys for data already sealed.

locals {
  # The one role per access mode (tests/terraform/test_identity.py reviews them).
  roles = {
    encrypt         = "roles/cloudkms.cryptoKeyEncrypter"
    decrypt         = "roles/cloudkms.cryptoKeyDecrypter"
    encrypt_decrypt = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  }
}

resource "google_kms_key_ring" "this" {
  project  = var.project_id
  name     = "ledgerline-payments"
  location = var.location
}

resource "google_kms_crypto_key" "this" {
  for_each = var.keys

  name            = each.key
  key_ring        = google_kms_key_ring.this.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = "7776000s" # 90 days: new versions wrap new data keys; old versions still open old ones
  labels          = var.labels

  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = var.protection_level
  }

  lifecycle {
    prevent_destroy = true # a destroyed key makes everything sealed under it unreadable, for good
  }
}

# "<key>/<function>" => one role on that key only (never on the key ring or the project).
resource "google_kms_crypto_key_iam_member" "this" {
  for_each = var.grants

  crypto_key_id = google_kms_crypto_key.this[each.value.key].id
  role          = local.roles[each.value.access]
  member        = each.value.member
}
