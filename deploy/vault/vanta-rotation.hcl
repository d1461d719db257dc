# Vault policy of the operator who rotates the wallet key: `npm run keys:rotate` with VAULT_OPERATOR_TOKEN
# (docs/operations-keys.md "Rotating keys"). compose.yaml's vault-init writes it as "vanta-rotation";
# make a short-lived token with it for each rotation:
#   vault token create -policy=vanta-rotation -ttl=1h -field=token
# It can move ciphertexts onto the newest key version but never see a wallet key: no encrypt or decrypt.

# Read the key's versions, add a version, rewrap stored ciphertexts onto it.
path "transit/keys/vanta-wallets"        { capabilities = ["read"] }
path "transit/keys/vanta-wallets/rotate" { capabilities = ["update"] }
path "transit/rewrap/vanta-wallets"      { capabilities = ["update"] }

# Retire old versions, and nothing else of the key's configuration (not exportable, deletion_allowed,
# allow_plaintext_backup or min_encryption_version).
path "transit/keys/vanta-wallets/config" {
  capabilities       = ["update"]
  allowed_parameters = { "min_decryption_version" = [] }
}

path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self"  { capabilities = ["update"] }
