output "address" {
  description = "The load balancer's global IP address (point each domain's A record here), or null when the edge is disabled."
  value       = var.enabled ? google_compute_global_address.edge[0].address : null
}

output "urls" {
  description = "https://<domain> of each public function behind the edge, by function name (empty when disabled)."
  value       = { for name, host in local.on : name => "https://${host}" }
}

output "console_url" {
  description = "https://<console host>/console/, or null without a console."
  value       = local.console != null ? "https://${local.console.host}/console/" : null
}

output "iap_audience" {
  description = "The audience of IAP's signed header on the console's backend (the api's LEDGERLINE_IAP_AUDIENCE); \"\" without a console."
  value       = local.console != null ? "/projects/${var.project_number}/global/backendServices/${google_compute_backend_service.console[0].generated_id}" : ""
}
