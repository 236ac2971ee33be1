// Command typecheck checks a Bicep file's resource bodies against Azure's published resource
// types, where no Bicep CLI runs (no registry for it here): every property name must exist in the
// resource type's API version and be writable, every required property must be set, and literal
// values must have the type's kind and, for enumerations, one of its values. Expressions
// (parameters, function calls, interpolated strings) are not evaluated. It reads the types
// from Azure/bicep-types-az, the same data the Bicep compiler's type checking uses:
//
//	git clone --depth 1 https://github.com/Azure/bicep-types-az /tmp/bicep-types-az
//	go run ./deploy/azure/typecheck -types /tmp/bicep-types-az/generated deploy/azure/main.bicep
//
// It is a tool, not a test: the types (hundreds of megabytes) are not in this repository.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	root := flag.String("types", "", "bicep-types-az's generated/ folder")
	flag.Parse()
	if *root == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: typecheck -types <bicep-types-az>/generated FILE.bicep...")
		os.Exit(2)
	}
	bad := 0
	for _, path := range flag.Args() {
		n, problems, err := checkFile(*root, path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(2)
		}
		for _, p := range problems {
			fmt.Printf("%s:%s\n", path, p)
		}
		fmt.Printf("%s: %d resources checked, %d problems\n", path, n, len(problems))
		bad += len(problems)
	}
	if bad > 0 {
		os.Exit(1)
	}
}

// checkFile checks every resource of the Bicep file at path.
func checkFile(root, path string) (int, []string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, err
	}
	res, err := parseResources(string(src))
	if err != nil {
		return 0, nil, err
	}
	var problems []string
	for _, r := range res {
		for _, p := range checkResource(root, r) {
			problems = append(problems, fmt.Sprintf("%s (%s %s@%s)", p, r.symbol, r.typ, r.version))
		}
	}
	return len(res), problems, nil
}
