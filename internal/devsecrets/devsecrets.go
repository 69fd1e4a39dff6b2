// Package devsecrets lists the credentials kitshop has published: the local
// stack's documented ones and every value that was once committed. A
// service refuses them unless it runs in development mode
// (kit/config.DevMode, KITSHOP_DEV=1, which `make run` and the tests set),
// since anyone who has read the repository knows them.
package devsecrets

// Values are the published credentials.
var Values = []string{
	// The local stack's (README): its database password and admin password.
	"kitshop",
	"kitshop-admin-pw",
	// Committed in earlier versions of the compose and Kubernetes files.
	"dev-product-4ef85c0b89dd1ae22516c715",
	"dev-user-24ab73edf096721dc8df958b",
	"dev-order-7639e67ebe865e79cad018a8",
	"local-product-5b0e9c1d7a",
	"local-user-3f6a2e8b41",
	"local-order-9c4d1b7e20",
	"dev-admin-d1636f181e10b765",
	"local-admin-8e2f5a9c",
	"dev-order-5909c5a9e17f054cb8d73ea16cfeede9",
	"local-order-account-6d1f0b3a9e7c4d25",
}
