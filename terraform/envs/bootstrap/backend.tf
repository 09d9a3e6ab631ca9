# State in the environment's state bucket, its own prefix: make bootstrap passes
# bucket=<TF_STATE_BUCKET> and prefix=ledgerline/bootstrap/<env> at init.
terraform {
  backend "gcs" {}
}
