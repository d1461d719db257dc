# Vault policy of the Vanta engine: least privilege for signing (docs/operations-keys.md, ADR 0004).
# compose.yaml's vault-init writes it as "vanta-engine" and gives the engine a token with only this policy.
# The key name is vanta-wallets (VAULT_TRANSIT_KEY); with another name, edit every path below.

# Seal a new wallet key, and open stored ones to sign. `update` only: encrypting under a key that
# does not exist would need `create`, so the engine can never create (or re-create) the key.
path "transit/encrypt/vanta-wallets" { capabilities = ["update"] }
path "transit/decrypt/vanta-wallets" { capabilities = ["update"] }

# The key's metadata (type, derived, versions; never key material): at start the engine refuses a key
# that is not a derived aes256-gcm96 key, /readyz reports its version, and a new wallet's version is
# checked against min_decryption_version before it is stored.
path "transit/keys/vanta-wallets" { capabilities = ["read"] }

# Keep its own token alive (also in Vault's default policy; listed so a token made with
# -no-default-policy works too).
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self"  { capabilities = ["update"] }

# Not here, on purpose: rotate, config, rewrap (the rotation policy, vanta-rotation.hcl), and create,
# delete, export, backup, trim of the key (nobody's day-to-day token).
