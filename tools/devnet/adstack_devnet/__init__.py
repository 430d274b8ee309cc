"""Development tools: a simulated Stacks devnet, the `make dev` runner and a watch client."""

__version__ = "0.1.0"

DEVNET_DEPLOYER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM"
"""The AdStack devnet deployer address (Clarinet's default deployer)."""

DEFAULT_CONTRACTS = {
    "CAMPAIGN_CONTRACT": f"{DEVNET_DEPLOYER}.promo-manager",
    "AUCTION_CONTRACT": f"{DEVNET_DEPLOYER}.auction-engine",
    "BRIDGE_CONTRACT": f"{DEVNET_DEPLOYER}.bridge-adapter",
    "PAYMENT_CONTRACT": f"{DEVNET_DEPLOYER}.payment-processor",
    "GOVERNANCE_CONTRACT": f"{DEVNET_DEPLOYER}.governance-core",
}
