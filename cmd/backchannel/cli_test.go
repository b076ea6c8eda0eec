package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// The command-line client is tested end to end: the scripts in testdata/*.txt run the built
// binary against a real server (started by the script with 'exec backchannel serve ... &'), as a
// person or a script would.
//
// Each script gets:
//
//	$ADDR, $SERVER         a free loopback address for the server, and its URL
//	$BACKCHANNEL_PASSPHRASE the keystores' passphrase
//	HOME=$WORK             so that the default keystore is the script's own
//
// and these commands besides testscript's own:
//
//	waitserver             wait until $SERVER answers
//	capture VAR [FIELD]    set VAR to stdout (trimmed), or to FIELD of the JSON on its first line
//	nopanic                fail if stderr shows a panic or a goroutine dump
func TestCLI(t *testing.T) {
	bin := binary(t)
	testscript.Run(t, cliParams(t, bin, "testdata"))
}

// cliParams are the testscript parameters of the CLI's scripts.
func cliParams(t *testing.T, bin, dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			addr, err := freeAddr()
			if err != nil {
				return err
			}
			addr2, err := freeAddr()
			if err != nil {
				return err
			}
			env.Setenv("ADDR2", addr2)
			env.Setenv("PATH", filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("ADDR", addr)
			env.Setenv("SERVER", "http://"+addr)
			env.Setenv("BACKCHANNEL_PASSPHRASE", "correct horse battery staple")
			// Keys encrypted here are opened dozens of times: the lowest scrypt work factor.
			env.Setenv(workFactorEnv, "10")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitserver": cmdWaitServer,
			"capture":    cmdCapture,
			"nopanic":    cmdNoPanic,
		},
	}
}

// freeAddr returns a loopback address with a port free at the time of asking.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func cmdWaitServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: waitserver")
	}
	url := ts.Getenv("SERVER") + "/healthz"
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("%s did not answer within 20s", url)
}

func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: capture VAR [FIELD]")
	}
	out := ts.ReadFile("stdout")
	if len(args) == 1 {
		ts.Setenv(args[0], strings.TrimSpace(out))
		return
	}
	first, _, _ := strings.Cut(out, "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(first), &m); err != nil {
		ts.Fatalf("capture: stdout is not JSON: %v", err)
	}
	v, ok := m[args[1]]
	if !ok {
		ts.Fatalf("capture: no field %q in %s", args[1], first)
	}
	if f, ok := v.(float64); ok {
		ts.Setenv(args[0], fmt.Sprint(int64(f)))
		return
	}
	ts.Setenv(args[0], fmt.Sprint(v))
}

func cmdNoPanic(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: nopanic")
	}
	errOut := ts.ReadFile("stderr")
	for _, bad := range []string{"panic:", "goroutine ", "runtime error"} {
		if strings.Contains(errOut, bad) {
			ts.Fatalf("stderr shows %q:\n%s", bad, errOut)
		}
	}
}
