// Package azure holds Elevate's Bicep template for Azure Container Apps (main.bicep) and its
// parameters; its test checks the template's structure, since no Bicep CLI runs here, and
// ./typecheck checks its resource bodies against Azure's published resource types.
package azure
