output "address" {
  description = "The load balancer's global IP address (point each domain's A record here), or null when the edge is disabled."
  value       = var.enabled ? google_compute_global_address.edge[0].address : null
}

output "urls" {
  description = "https://<domain> of each public function behind the edge, by function name (empty when disabled)."
  value       = { for name, host in local.on : name => "https://${host}" }
}
