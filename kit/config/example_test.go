package config_test

import (
	"flag"
	"fmt"
	"os"

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
