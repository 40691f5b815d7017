// Command seidb is evm-digest's build of sei-chain's seidb tool: our cobra root, their operations
// package (imported as a module dependency at the version pinned in go.mod).
package main

import (
	"fmt"
	"os"

	"github.com/sei-protocol/sei-chain/sei-db/tools/cmd/seidb/operations"
	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "seidb",
		Short:         "sei-chain seidb operations used by evm-digest (logical digest, FlatKV import)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		operations.EvmLogicalDigestCmd(),
		operations.ImportFlatKVFromMemiavlCmd(),
		operations.MemiavlLatestVersionCmd(),
	)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
