package config_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kitshop/kitshop/kit/config"
)

func ExampleParse() {
	os.Setenv("PRODUCT_HTTP_ADDR", ":9000")
	os.Setenv("PRODUCT_GRPC_ADDR", ":9999")
	defer os.Unsetenv("PRODUCT_HTTP_ADDR")
	defer os.Unsetenv("PRODUCT_GRPC_ADDR")

	fs := flag.NewFlagSet("product", flag.ContinueOnError)
	httpAddr := fs.String("http-addr", ":8081", "HTTP listen address")
	grpcAddr := fs.String("grpc-addr", ":9081", "gRPC listen address")
	logFormat := fs.String("log-format", "logfmt", "logfmt or json")

	// The flag beats PRODUCT_GRPC_ADDR; -http-addr comes from the environment;
	// -log-format keeps its default.
	if err := config.Parse(fs, "PRODUCT", []string{"-grpc-addr", ":9082"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(*httpAddr, *grpcAddr, *logFormat)
	// Output: :9000 :9082 logfmt
}

// A secret mounted as a file (a Docker or Kubernetes secret) is named by the
// flag's variable plus _FILE; the file's trailing newline is dropped.
func ExampleParse_file() {
	dir, err := os.MkdirTemp("", "kitshop-config-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	secret := filepath.Join(dir, "product_database_url")
	if err := os.WriteFile(secret, []byte("postgres://product:s3cret@product-db:5432/product\n"), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	os.Setenv("PRODUCT_DATABASE_URL_FILE", secret)
	defer os.Unsetenv("PRODUCT_DATABASE_URL_FILE")

	fs := flag.NewFlagSet("product", flag.ContinueOnError)
	databaseURL := fs.String("database-url", "", "Postgres URL")
	if err := config.Parse(fs, "PRODUCT", nil); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", *databaseURL)
	// Output: "postgres://product:s3cret@product-db:5432/product"
}
