output "key_id" {
  description = "The crypto key's resource name (PAYMENTS_KMS_KEY)."
  value       = google_kms_crypto_key.account_numbers.id
}
