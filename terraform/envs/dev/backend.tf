# Remote state in GCS, one prefix per environment. The bucket is not written here: it is passed at
# init (make plan/deploy do it from TF_STATE_BUCKET), once it exists (docs/deploy.md, step 2):
#   terraform -chdir=terraform/envs/dev init -backend-config="bucket=<state bucket>"
terraform {
  backend "gcs" {
    prefix = "ledgerline/dev"
  }
}
