package liveconfig_test

import (
	"testing"

	"github.com/kitshop/kitshop/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
