output "key_ids" {
  description = "Crypto key resource names (projects/…/cryptoKeys/<name>), by topology key name; the stack sets each key's `env` variable from it."
  value       = { for name, key in google_kms_crypto_key.this : name => key.id }
}
