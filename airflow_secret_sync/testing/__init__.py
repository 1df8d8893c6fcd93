"""Test helpers: offline emulators of the secret stores the provider talks to."""
