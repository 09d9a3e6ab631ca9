# The payments key: Cloud KMS wraps the per-payout data keys of sealed account numbers
# (shared/payments/vault.py, shared/adapters/kms_keys.py). Encrypt and decrypt are granted apart:
# the functions that seal (api) may only encrypt; the one that pays out (payments) may only decrypt
# (topology cloud.access.kms). Rotated every 90 days: new versions wrap new data keys, old ones still open.

resource "google_kms_key_ring" "this" {
  project  = var.project_id
  name     = "ledgerline-payments"
  location = var.location
}

resource "google_kms_crypto_key" "account_numbers" {
  name            = "account-numbers"
  key_ring        = google_kms_key_ring.this.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = "7776000s" # 90 days: new versions wrap new data keys; old versions still open old ones
  labels          = var.labels

  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = var.protection_level
  }

  lifecycle {
    prevent_destroy = true # a destroyed key makes every sealed account number unreadable, for good
  }
}

resource "google_kms_crypto_key_iam_member" "encrypter" {
  for_each = var.encrypters

  crypto_key_id = google_kms_crypto_key.account_numbers.id
  role          = "roles/cloudkms.cryptoKeyEncrypter"
  member        = each.value
}

resource "google_kms_crypto_key_iam_member" "decrypter" {
  for_each = var.decrypters

  crypto_key_id = google_kms_crypto_key.account_numbers.id
  role          = "roles/cloudkms.cryptoKeyDecrypter"
  member        = each.value
}
