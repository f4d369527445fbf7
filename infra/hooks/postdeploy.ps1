# After `azd deploy`: the Event Grid subscriptions point at the keyVaultEvents function, which exists
# only once the code is deployed, so the first provision leaves them out. Say how to add them.
$value = azd env get-value DEPLOY_EVENT_SUBSCRIPTIONS 2>$null
if ($value -ne 'true') {
  Write-Host "The Key Vault event subscriptions are not created yet (the keyVaultEvents function had to exist first)."
  Write-Host "Create them now with:"
  Write-Host "  azd env set DEPLOY_EVENT_SUBSCRIPTIONS true; azd provision"
}
