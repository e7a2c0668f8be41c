"""Signing: EU DCC payloads, UVCIs, the project's CA, COSE/HC1 certificates, trust lists and QR codes.

Knows nothing of Airflow or of the ops store; keys come in as loaded `Signer` objects or key-store paths.
"""
