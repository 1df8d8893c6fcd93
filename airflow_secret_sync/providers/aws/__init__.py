"""What the AWS providers (Secrets Manager, Parameter Store) share: the connection, the client, the tags."""
