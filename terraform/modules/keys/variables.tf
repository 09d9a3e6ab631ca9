variable "project_id" {
  description = "The stack's project."
  type        = string
}

variable "location" {
  description = "KMS location (the functions' region)."
  type        = string
}

variable "protection_level" {
  description = "SOFTWARE or HSM, for every key."
  type        = string
  default     = "SOFTWARE"
}

variable "keys" {
  description = "Crypto key name => what it protects (topology.json `kms.keys`)."
  type        = map(string)
}

variable "grants" {
  description = "\"<key>/<function>\" => the key, the access mode (encrypt | decrypt | encrypt_decrypt, from topology cloud.access.kms) and the function's member."
  type = map(object({
    key    = string
    access = string
    member = string
  }))

  validation {
    condition     = alltrue([for g in values(var.grants) : contains(["encrypt", "decrypt", "encrypt_decrypt"], g.access)])
    error_message = "cloud.access.kms values are encrypt, decrypt or encrypt_decrypt."
  }
}

variable "labels" {
  description = "Labels of the keys."
  type        = map(string)
  default     = {}
}
