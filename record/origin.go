package record

import (
	"fmt"
	"strconv"
	"strings"
)

// Origin returns the origin line of a talks' log on a host: "<host>/talks/<talksID>".
//
// The origin names the log in every checkpoint and is the key name of the log's signature, so
// it must be unique per talks and per host (two hosts may carry talks with the same ID) and it
// must be a valid signed-note key name (no spaces, no '+'). It reads as the schema-less URL
// prefix of the talks on its host, as C2SP tlog-checkpoint recommends, without the /v1/…/log
// path: the API version is not part of the log's identity.
//
// host is a lower-case DNS name or address, with an optional ":port"; talksID follows the
// project's identifier rule (lower-case letters, digits and - . _ : , at most 64 bytes).
func Origin(host, talksID string) (string, error) {
	if err := checkHost(host); err != nil {
		return "", err
	}
	if err := checkTalksID(talksID); err != nil {
		return "", err
	}
	return host + "/talks/" + talksID, nil
}

// ParseOrigin splits an origin made by Origin into its host and talks ID.
func ParseOrigin(origin string) (host, talksID string, err error) {
	host, talksID, ok := strings.Cut(origin, "/talks/")
	if !ok {
		return "", "", fmt.Errorf("%w: origin %q is not <host>/talks/<talksID>", ErrMalformed, origin)
	}
	if err := checkHost(host); err != nil {
		return "", "", err
	}
	if err := checkTalksID(talksID); err != nil {
		return "", "", err
	}
	return host, talksID, nil
}

func checkHost(host string) error {
	name, port, hasPort := strings.Cut(host, ":")
	if name == "" || len(host) > 253 {
		return fmt.Errorf("%w: host %q must be 1 to 253 bytes", ErrMalformed, host)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.':
		default:
			return fmt.Errorf("%w: host %q has %q: hosts are lower-case letters, digits, '-' and '.'", ErrMalformed, host, c)
		}
	}
	if hasPort {
		// One spelling per port: "8080", never "08080" or "+8080".
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 || strconv.FormatUint(p, 10) != port {
			return fmt.Errorf("%w: host %q has a bad port", ErrMalformed, host)
		}
	}
	return nil
}

// checkTalksID repeats the root package's identifier rule (backchannel.CheckID) rather than
// import it: the root package declares the services built on this one and may import it.
func checkTalksID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: talks ID %q must be 1 to 64 bytes", ErrMalformed, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && strings.IndexByte("-._:", c) >= 0:
		default:
			return fmt.Errorf("%w: talks ID %q has %q at byte %d", ErrMalformed, id, c, i)
		}
	}
	return nil
}
