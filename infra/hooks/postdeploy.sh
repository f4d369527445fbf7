#!/bin/sh
# After `azd deploy`: the Event Grid subscriptions point at the keyVaultEvents function, which exists
# only once the code is deployed, so the first provision leaves them out. Say how to add them.
set -eu
if [ "$(azd env get-value DEPLOY_EVENT_SUBSCRIPTIONS 2>/dev/null || true)" != "true" ]; then
  echo "The Key Vault event subscriptions are not created yet (the keyVaultEvents function had to exist first)."
  echo "Create them now with:"
  echo "  azd env set DEPLOY_EVENT_SUBSCRIPTIONS true && azd provision"
fi
