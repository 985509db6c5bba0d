"""The API of the protective measures: address blocks (``/api/v1/security/blocks/``), for state administrators."""
