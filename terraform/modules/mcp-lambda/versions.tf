terraform {
  # 1.9: variable validations may refer to other variables.
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.29: aws_lambda_permission.invoked_via_function_url (public Function URLs need it).
      version = ">= 6.29"
    }
  }
}
