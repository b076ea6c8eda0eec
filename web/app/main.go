//go:build js && wasm

// Command app is the web client's engine, compiled to WebAssembly: the client library (seal,
// talks, record, client) running in the page, so that the browser seals, opens, verifies and
// replays exactly as the command line does. It gives the page one global object,
// backchannel, whose functions return promises:
//
//	backchannel.open(identityFile: Uint8Array, passphrase: string) -> Me (JSON)
//	backchannel.call(method: string, args: string (JSON)) -> result (JSON)
//	backchannel.close()
//	backchannel.onchange = (talks, note) => ...   set by the page: a followed talks changed
//
// A refused promise carries a JSON Error: the problem's name, its words, and what to do.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall/js"

	"github.com/backchannel/backchannel/web/session"
)

// localStorage keeps what is public: pins and verified state. The identity's private keys
// stay in the page's IndexedDB, wrapped by their passphrase; they reach this engine only to be
// unwrapped into memory.
type localStorage struct{ v js.Value }

func (s localStorage) Get(key string) (string, bool) {
	v := s.v.Call("getItem", key)
	if v.IsNull() || v.IsUndefined() {
		return "", false
	}
	return v.String(), true
}

func (s localStorage) Set(key, value string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("the browser refused to keep the talks' verified state (its storage may be full)")
		}
	}()
	s.v.Call("setItem", key, value)
	return nil
}

var (
	mu  sync.Mutex
	cur *session.Session
)

func main() {
	bc := js.Global().Get("Object").New()
	bc.Set("open", js.FuncOf(open))
	bc.Set("call", js.FuncOf(call))
	bc.Set("close", js.FuncOf(func(js.Value, []js.Value) any {
		mu.Lock()
		defer mu.Unlock()
		if cur != nil {
			cur.Close()
			cur = nil
		}
		return nil
	}))
	js.Global().Set("backchannel", bc)
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("backchannel-ready"))
	select {}
}

// promise runs work off the page's event loop (it blocks on the network) and settles a promise
// with its JSON result or its explained error.
func promise(work func() (any, error)) any {
	return js.Global().Get("Promise").New(js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			// A fault in one request must not stop the engine, whose every later promise
			// would then never settle: it is refused like an error.
			defer func() {
				if r := recover(); r != nil {
					b, _ := json.Marshal(&session.Error{Problem: "internal", Message: fmt.Sprintf("the client failed: %v", r), Todo: "reload the page; if it happens again, tell the host's operator"})
					reject.Invoke(string(b))
				}
			}()
			out, err := work()
			if err != nil {
				b, _ := json.Marshal(session.Explain(err))
				reject.Invoke(string(b))
				return
			}
			b, err := json.Marshal(out)
			if err != nil {
				b, _ = json.Marshal(session.Explain(err))
				reject.Invoke(string(b))
				return
			}
			resolve.Invoke(string(b))
		}()
		return nil
	}))
}

func open(_ js.Value, args []js.Value) any {
	return promise(func() (any, error) {
		if len(args) != 2 {
			return nil, errors.New("open takes an identity file and its passphrase")
		}
		file := make([]byte, args[0].Get("length").Int())
		js.CopyBytesToGo(file, args[0])
		origin := js.Global().Get("location").Get("origin").String()
		s, err := session.Open(origin, file, args[1].String(), localStorage{js.Global().Get("localStorage")}, session.Options{
			Changed: func(talks, note string) {
				if f := js.Global().Get("backchannel").Get("onchange"); f.Type() == js.TypeFunction {
					f.Invoke(talks, note)
				}
			},
		})
		if err != nil {
			return nil, err
		}
		me, err := s.Login(context.Background())
		if err != nil {
			return nil, err
		}
		mu.Lock()
		if cur != nil {
			cur.Close()
		}
		cur = s
		mu.Unlock()
		return me, nil
	})
}

func call(_ js.Value, args []js.Value) any {
	return promise(func() (any, error) {
		mu.Lock()
		s := cur
		mu.Unlock()
		if s == nil {
			return nil, &session.Error{Problem: "signed-out", Message: "you are signed out", Todo: "sign in again"}
		}
		if len(args) != 2 {
			return nil, errors.New("call takes a request's name and its arguments")
		}
		return s.Call(context.Background(), args[0].String(), []byte(args[1].String()))
	})
}
