"""Kubernetes Secrets as a secret store (provider kind ``kubernetes``) on the official client."""
