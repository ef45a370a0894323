"""Stores: one per table family, the only code that talks to DynamoDB or Secrets Manager.

They take a boto3 client and table names, turn ClientError codes into the package's errors,
and know nothing about users, access or flow-prompt: the service decides who may call them.
"""
