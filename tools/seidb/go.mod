// Our seidb: a thin cobra root over sei-chain's seidb operations, built as an ordinary Go module
// dependency fetched through the module proxy (scripts/build-seidb). No sei-chain code lives here.
module github.com/evm-digest/tools/seidb

// sei-chain's own go.mod says `go 1.25.6`; a dependent module may not declare less (go mod tidy
// would raise it), so the floor is stated here rather than `go 1.25`.
go 1.25.6

require (
	// PIN (provisional). The golden commit is 0ec0acf2921addae3c1342cd7ff02041df80f0b4, the first
	// whose `seidb evm-logical-digest` has `--json` (sei-chain PR #4166). Its commit time, and so its
	// pseudo-version, cannot be read here: the local sei-chain mirror does not hold that commit and
	// the module proxy answers 403 for every sei-chain version. Until the proxy serves it, this pins
	// the mirror's HEAD, 73f917bbd46f (2026-08-21 20:51:44 UTC), whose seidb has NO `--json` (the
	// runner then falls back to text). Replace with the golden commit's pseudo-version
	// (`go list -m github.com/sei-protocol/sei-chain@0ec0acf2921a` prints it) once it is served.
	github.com/sei-protocol/sei-chain v0.0.0-20260821205144-73f917bbd46f
	github.com/spf13/cobra v1.10.2
)

// sei-chain's replace directives (its go.mod at the pinned commit). Replaces apply only in the main
// module, so a module that builds sei-chain packages must repeat them; keep in step with the pin.
replace (
	github.com/99designs/keyring => github.com/cosmos/keyring v1.1.7-0.20210622111912-ef00f8ac3d76
	github.com/btcsuite/btcd => github.com/btcsuite/btcd v0.23.2
	github.com/confio/ics23/go => github.com/cosmos/cosmos-sdk/ics23/go v0.8.0
	github.com/ethereum/go-ethereum => github.com/sei-protocol/go-ethereum v1.15.7-sei-20
	github.com/gin-gonic/gin => github.com/gin-gonic/gin v1.7.0
	github.com/gogo/protobuf => github.com/regen-network/protobuf v1.3.3-alpha.regen.1
	github.com/keybase/go-keychain => github.com/keybase/go-keychain v0.0.0-20190712205309-48d3d31d256d
	github.com/syndtr/goleveldb => github.com/syndtr/goleveldb v1.0.1-0.20210819022825-2ae1ddf74ef7
	github.com/tendermint/tm-db => github.com/sei-protocol/tm-db v0.0.4
	golang.org/x/crypto => golang.org/x/crypto v0.31.0
	google.golang.org/grpc => google.golang.org/grpc v1.57.1
)
