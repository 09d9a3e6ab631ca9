variable "project_id" {
  description = "The stack's project."
  type        = string
}

variable "location" {
  description = "KMS location (the functions' region)."
  type        = string
}

variable "protection_level" {
  description = "SOFTWARE or HSM."
  type        = string
  default     = "SOFTWARE"
}

variable "encrypters" {
  description = "function name => member that may seal (encrypt) account numbers."
  type        = map(string)
}

variable "decrypters" {
  description = "function name => member that may open (decrypt) them: the payments function only."
  type        = map(string)
}

variable "labels" {
  description = "Labels of the key."
  type        = map(string)
  default     = {}
}
