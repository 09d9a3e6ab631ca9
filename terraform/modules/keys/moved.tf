# Addresses of the single-key module (the account-numbers key and its two grants), moved to the
# per-key resources: an existing deployment keeps its key (prevent_destroy would refuse a replacement
# anyway) and its grants. Moved blocks must name static addresses, so these are the only place in HCL
# where a topology key or function name is written (tests/terraform/test_identity.py checks them).
# Keep them while a state from before the move may exist.

moved {
  from = google_kms_crypto_key.account_numbers
  to   = google_kms_crypto_key.this["account-numbers"]
}

moved {
  from = google_kms_crypto_key_iam_member.encrypter["api"]
  to   = google_kms_crypto_key_iam_member.this["account-numbers/api"]
}

moved {
  from = google_kms_crypto_key_iam_member.decrypter["payments"]
  to   = google_kms_crypto_key_iam_member.this["account-numbers/payments"]
}
