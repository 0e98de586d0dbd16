"""E-mail through SendGrid's v3 Mail Send API with the official client."""
