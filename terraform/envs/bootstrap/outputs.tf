output "workload_identity_provider" {
  description = "Set as the GitHub repository variable <ENV>_WIF_PROVIDER (DEV_WIF_PROVIDER, PROD_WIF_PROVIDER)."
  value       = module.delivery.workload_identity_provider
}

output "deployer_service_account" {
  description = "Set as the GitHub repository variable <ENV>_DEPLOYER_SA (DEV_DEPLOYER_SA, PROD_DEPLOYER_SA)."
  value       = module.delivery.deployer_service_account
}
