terraform {
  required_version = ">= 1.11"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 8.0"
    }
  }

  # The state bucket exists before this module (see README): Terraform cannot create the
  # bucket that holds its own state. The gcs backend locks the state by itself.
  backend "gcs" {
    bucket = "ml-project-tfstate"
    prefix = "ml-project/gcp"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    project    = var.project
    managed-by = "terraform"
  }
}
