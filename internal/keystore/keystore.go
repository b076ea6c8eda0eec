// Package keystore keeps a principal's and an organisation's keys on disk for the command line:
// organisation roots and principals' identities, encrypted with a passphrase; and, in clear,
// what is public but must not be forgotten between runs: credentials, the roots compared out
// of band, the servers' pinned log keys, and each talks' verified record state.
//
// The layout under the keystore's directory:
//
//	config.json                                   the default server and principal
//	orgs/<org>/org.json                           the organisation: name, public root, fingerprint
//	orgs/<org>/root.age                           its root, age-encrypted with a passphrase
//	principals/<org>/<principal>/identity.age     the current identity (keys and credential), encrypted
//	principals/<org>/<principal>/retired/<serial>.age   identities replaced by a rotation, encrypted
//	principals/<org>/<principal>/credentials/<serial>   every credential issued, the signed bytes
//	known/<org>.json                              roots compared out of band, pinned
//	servers/<server>.json                         a server's pinned log key and host name
//	talks/<server>/<org>_<principal>/<talks>.json a talks' verified checkpoints and expected roots
//
// Private keys are encrypted with age's scrypt passphrase recipient (the age file format,
// age-encryption.org/v1, readable by any age implementation given the passphrase), so the
// keystore relies on a specified, well-kept format and a standard password-based KDF rather than
// one of its own. Directories are created 0700 and files 0600; every file is written to a
// temporary name and renamed into place, so a crash leaves the old file or the new one.
//
// A principal's identity.age is an identity file, the same a browser keeps: OpenIdentityFile and
// SealIdentityFile read and write one without a Store, and the Store's SaveIdentity and Identity
// go through the same code.
package keystore

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
)

// Errors a caller may act on.
var (
	// ErrNotFound: the keystore holds no such organisation, principal, server or talks.
	ErrNotFound = errors.New("not in the keystore")
	// ErrExists: creating something the keystore already holds.
	ErrExists = errors.New("already in the keystore")
	// ErrWrongPassphrase: the passphrase does not decrypt the key.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrLocked: no passphrase was given and the key is not unlocked (WithUnlocked).
	ErrLocked = errors.New("locked: a passphrase is needed")
)

// DefaultWorkFactor is the scrypt work factor (log2 of N) of newly encrypted keys: age's own
// default, about a second of work and 256 MiB of memory, worth it for keys that are read
// rarely. Decryption accepts whatever factor a file was written with, up to MaxWorkFactor.
const DefaultWorkFactor = 18

// MinWorkFactor and MaxWorkFactor bound the work factors the keystore writes and reads.
const (
	MinWorkFactor = 10
	MaxWorkFactor = 22
)

// Store is a keystore directory. It is not safe for concurrent use by several processes
// writing the same file; the last writer wins, whole.
type Store struct {
	dir        string
	workFactor int
	unlocked   Unlocked
}

// Unlocked keeps decrypted keys for a working session, so that the passphrase is typed, and
// scrypt run, once: the command line's agent (internal/agent) is one. Keys are named by the hash
// of their encrypted file, so a key replaced on disk (a rotation) is never answered from an
// older copy.
type Unlocked interface {
	// Unlocked returns the plaintext of the encrypted file whose bytes hash to sum.
	Unlocked(sum [32]byte) ([]byte, bool)
	// Unlock keeps the plaintext of the encrypted file whose bytes hash to sum.
	Unlock(sum [32]byte, plaintext []byte)
}

// WithUnlocked makes the keystore take keys from u when it holds them, and give u every key it
// decrypts with a passphrase. A key asked for with an empty passphrase that u does not hold is
// ErrLocked.
func WithUnlocked(u Unlocked) Option { return func(s *Store) { s.unlocked = u } }

// Option configures a Store.
type Option func(*Store)

// WithWorkFactor sets the scrypt work factor of keys encrypted from now on, clamped to
// [MinWorkFactor, MaxWorkFactor]. Lower factors are faster to open and to guess.
func WithWorkFactor(logN int) Option {
	return func(s *Store) { s.workFactor = max(MinWorkFactor, min(MaxWorkFactor, logN)) }
}

// DefaultDir returns the keystore directory: $XDG_CONFIG_HOME/backchannel if XDG_CONFIG_HOME is
// an absolute path, else ~/.config/backchannel. getenv reads the environment.
func DefaultDir(getenv func(string) string) (string, error) {
	if x := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "backchannel"), nil
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".config", "backchannel"), nil
	}
	return "", errors.New("no keystore directory: neither XDG_CONFIG_HOME nor HOME is set")
}

// Open opens the keystore in dir, creating the directory (0700) if it does not exist.
func Open(dir string, opts ...Option) (*Store, error) {
	s := &Store{dir: dir, workFactor: DefaultWorkFactor}
	for _, o := range opts {
		o(s)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	return s, nil
}

// Dir returns the keystore's directory.
func (s *Store) Dir() string { return s.dir }

// Organisation is what the keystore knows of an organisation whose root it holds.
type Organisation struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	RootKey     []byte    `json:"root_key"`
	Fingerprint string    `json:"fingerprint"`
	SafetyNum   string    `json:"safety_number"`
	Created     time.Time `json:"created"`
	// Registered lists the servers the organisation was registered with.
	Registered []string `json:"registered,omitempty"`
}

// Public returns the organisation's public root key.
func (o Organisation) Public() (seal.RootKey, error) { return seal.ParseRootKey(o.RootKey) }

// Principal is what the keystore knows of a principal whose identity it holds.
type Principal struct {
	Org       string
	Principal string
	// Credentials are every credential issued to the principal, by serial, ascending.
	Credentials []*seal.Credential
	// Revoked lists the serials revoked.
	Revoked []uint64
}

// Current returns the principal's credential with the highest serial.
func (p Principal) Current() *seal.Credential {
	if len(p.Credentials) == 0 {
		return nil
	}
	return p.Credentials[len(p.Credentials)-1]
}

// IsRevoked reports whether serial was revoked.
func (p Principal) IsRevoked(serial uint64) bool {
	for _, r := range p.Revoked {
		if r == serial {
			return true
		}
	}
	return false
}

// check refuses an id that cannot name a file safely: every id is a backchannel identifier.
func check(what, id string) error {
	if err := backchannel.CheckID(what, id); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	return nil
}

// CreateOrganisation stores a new organisation's root, encrypted with passphrase. It refuses
// to replace a root the keystore already holds: a lost root cannot be recovered.
func (s *Store) CreateOrganisation(r *seal.Root, name, passphrase string, now time.Time) (Organisation, error) {
	pub := r.Public()
	if err := check("organisation", pub.Org); err != nil {
		return Organisation{}, err
	}
	dir := filepath.Join(s.dir, "orgs", pub.Org)
	if _, err := os.Stat(filepath.Join(dir, "root.age")); err == nil {
		return Organisation{}, fmt.Errorf("organisation %q: %w", pub.Org, ErrExists)
	}
	fp := pub.Fingerprint()
	o := Organisation{
		ID: pub.Org, Name: name, RootKey: pub.Marshal(), Fingerprint: fmt.Sprintf("%x", fp[:]),
		SafetyNum: fp.String(), Created: now.UTC().Truncate(time.Second),
	}
	if err := s.writeSecret(filepath.Join(dir, "root.age"), r.Marshal(), passphrase); err != nil {
		return Organisation{}, err
	}
	if err := s.writeJSON(filepath.Join(dir, "org.json"), o); err != nil {
		return Organisation{}, err
	}
	return o, nil
}

// Organisation returns an organisation whose root the keystore holds.
func (s *Store) Organisation(org string) (Organisation, error) {
	var o Organisation
	if err := check("organisation", org); err != nil {
		return o, err
	}
	err := s.readJSON(filepath.Join(s.dir, "orgs", org, "org.json"), &o)
	if errors.Is(err, fs.ErrNotExist) {
		return o, fmt.Errorf("organisation %q: %w", org, ErrNotFound)
	}
	return o, err
}

// SaveOrganisation rewrites an organisation's public record (its name, where it is registered).
func (s *Store) SaveOrganisation(o Organisation) error {
	if _, err := s.Organisation(o.ID); err != nil {
		return err
	}
	return s.writeJSON(filepath.Join(s.dir, "orgs", o.ID, "org.json"), o)
}

// Organisations lists the organisations whose roots the keystore holds, by id.
func (s *Store) Organisations() ([]Organisation, error) {
	names, err := s.list(filepath.Join(s.dir, "orgs"))
	if err != nil {
		return nil, err
	}
	var out []Organisation
	for _, n := range names {
		if o, err := s.Organisation(n); err == nil {
			out = append(out, o)
		}
	}
	return out, nil
}

// Root decrypts an organisation's root with passphrase.
func (s *Store) Root(org, passphrase string) (*seal.Root, error) {
	if _, err := s.Organisation(org); err != nil {
		return nil, err
	}
	b, err := s.readSecret(filepath.Join(s.dir, "orgs", org, "root.age"), passphrase)
	if err != nil {
		return nil, fmt.Errorf("root of %q: %w", org, err)
	}
	r, err := seal.ParseRoot(b)
	if err != nil {
		return nil, fmt.Errorf("root of %q: %w", org, err)
	}
	return r, nil
}

// principalDir returns the directory of a principal.
func (s *Store) principalDir(org, principal string) (string, error) {
	if err := check("organisation", org); err != nil {
		return "", err
	}
	if err := check("principal", principal); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, "principals", org, principal), nil
}

// SaveIdentity stores a principal's identity, whose credential must be set, encrypted with
// passphrase (an identity file, as SealIdentityFile writes it, at the keystore's work factor),
// and adds its credential to the principal's history. An identity it replaces (a rotation) is
// kept, encrypted, under retired/, since messages sealed to its keys can only be opened with
// them.
func (s *Store) SaveIdentity(id *seal.Identity, passphrase string) error {
	data, err := SealIdentityFile(id, passphrase, s.workFactor)
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	cr := id.Credential()
	dir, err := s.principalDir(cr.Org, cr.Principal)
	if err != nil {
		return err
	}
	cur := filepath.Join(dir, "identity.age")
	if old, err := os.ReadFile(cur); err == nil {
		// The old file is already encrypted: keep it as it is, under the serial it held.
		p, err := s.Principal(cr.Org, cr.Principal)
		if err == nil && p.Current() != nil && p.Current().Serial != cr.Serial {
			if err := s.writeFile(filepath.Join(dir, "retired", strconv.FormatUint(p.Current().Serial, 10)+".age"), old); err != nil {
				return err
			}
		}
	}
	if err := s.SaveCredential(cr); err != nil {
		return err
	}
	return s.writeFile(cur, data)
}

// SaveCredential adds a credential to its principal's history, by serial.
func (s *Store) SaveCredential(cr *seal.Credential) error {
	dir, err := s.principalDir(cr.Org, cr.Principal)
	if err != nil {
		return err
	}
	return s.writeFile(filepath.Join(dir, "credentials", strconv.FormatUint(cr.Serial, 10)), cr.Marshal())
}

// MarkRevoked records that the principal's credential with serial was revoked, with the
// revocation's signed bytes.
func (s *Store) MarkRevoked(v *seal.Revocation) error {
	dir, err := s.principalDir(v.Org, v.Principal)
	if err != nil {
		return err
	}
	return s.writeFile(filepath.Join(dir, "revocations", strconv.FormatUint(v.Serial, 10)), v.Marshal())
}

// Identity decrypts a principal's current identity with passphrase.
func (s *Store) Identity(org, principal, passphrase string) (*seal.Identity, error) {
	dir, err := s.principalDir(org, principal)
	if err != nil {
		return nil, err
	}
	b, err := s.readSecret(filepath.Join(dir, "identity.age"), passphrase)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("principal %s:%s: %w", org, principal, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("identity of %s:%s: %w", org, principal, err)
	}
	id, err := parseIdentity(b)
	if err != nil {
		return nil, fmt.Errorf("identity of %s:%s: %w", org, principal, err)
	}
	return id, nil
}

// IdentityFile returns a principal's current identity file as it is on disk: encrypted, in the
// format OpenIdentityFile reads, under the passphrase it was saved with.
func (s *Store) IdentityFile(org, principal string) ([]byte, error) {
	dir, err := s.principalDir(org, principal)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "identity.age"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("principal %s:%s: %w", org, principal, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	return b, nil
}

// RetiredIdentity decrypts the identity that held a principal's credential of the given serial
// before a rotation replaced it, with passphrase (or from the unlocked keys when passphrase is
// empty): messages sealed to that credential open only with it.
func (s *Store) RetiredIdentity(org, principal string, serial uint64, passphrase string) (*seal.Identity, error) {
	dir, err := s.principalDir(org, principal)
	if err != nil {
		return nil, err
	}
	b, err := s.readSecret(filepath.Join(dir, "retired", strconv.FormatUint(serial, 10)+".age"), passphrase)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("retired identity %d of %s:%s: %w", serial, org, principal, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("retired identity %d of %s:%s: %w", serial, org, principal, err)
	}
	id, err := parseIdentity(b)
	if err != nil {
		return nil, fmt.Errorf("retired identity %d of %s:%s: %w", serial, org, principal, err)
	}
	return id, nil
}

// RetiredSerials lists the serials of a principal's retired identities, in ascending order.
func (s *Store) RetiredSerials(org, principal string) ([]uint64, error) {
	dir, err := s.principalDir(org, principal)
	if err != nil {
		return nil, err
	}
	names, err := s.list(filepath.Join(dir, "retired"))
	if err != nil {
		return nil, err
	}
	var serials []uint64
	for _, n := range names {
		if v, err := strconv.ParseUint(strings.TrimSuffix(n, ".age"), 10, 64); err == nil && strings.HasSuffix(n, ".age") {
			serials = append(serials, v)
		}
	}
	sort.Slice(serials, func(i, j int) bool { return serials[i] < serials[j] })
	return serials, nil
}

// HasIdentity reports whether the keystore holds an identity for the principal.
func (s *Store) HasIdentity(org, principal string) bool {
	dir, err := s.principalDir(org, principal)
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, "identity.age"))
	return err == nil
}

// Principal returns what the keystore holds of a principal: its credentials and revocations.
func (s *Store) Principal(org, principal string) (Principal, error) {
	p := Principal{Org: org, Principal: principal}
	dir, err := s.principalDir(org, principal)
	if err != nil {
		return p, err
	}
	serials, err := s.list(filepath.Join(dir, "credentials"))
	if err != nil {
		return p, err
	}
	if len(serials) == 0 {
		return p, fmt.Errorf("principal %s:%s: %w", org, principal, ErrNotFound)
	}
	for _, n := range serials {
		b, err := os.ReadFile(filepath.Join(dir, "credentials", n))
		if err != nil {
			return p, err
		}
		cr, err := seal.ParseCredential(b)
		if err != nil {
			return p, fmt.Errorf("keystore: credential %s of %s:%s: %w", n, org, principal, err)
		}
		p.Credentials = append(p.Credentials, cr)
	}
	sort.Slice(p.Credentials, func(i, j int) bool { return p.Credentials[i].Serial < p.Credentials[j].Serial })
	revoked, err := s.list(filepath.Join(dir, "revocations"))
	if err != nil {
		return p, err
	}
	for _, n := range revoked {
		if v, err := strconv.ParseUint(n, 10, 64); err == nil {
			p.Revoked = append(p.Revoked, v)
		}
	}
	return p, nil
}

// Principals lists every principal the keystore holds credentials for, by organisation and id.
func (s *Store) Principals() ([]Principal, error) {
	orgs, err := s.list(filepath.Join(s.dir, "principals"))
	if err != nil {
		return nil, err
	}
	var out []Principal
	for _, org := range orgs {
		names, err := s.list(filepath.Join(s.dir, "principals", org))
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if p, err := s.Principal(org, n); err == nil {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// Known is a root compared out of band and pinned: the keystore's known_hosts.
type Known struct {
	Org         string    `json:"org"`
	RootKey     []byte    `json:"root_key"`
	Fingerprint string    `json:"fingerprint"`
	SafetyNum   string    `json:"safety_number"`
	Compared    time.Time `json:"compared"`
}

// Pin records that k's fingerprint was compared out of band.
func (s *Store) Pin(k seal.RootKey, now time.Time) error {
	if err := check("organisation", k.Org); err != nil {
		return err
	}
	fp := k.Fingerprint()
	return s.writeJSON(filepath.Join(s.dir, "known", k.Org+".json"), Known{
		Org: k.Org, RootKey: k.Marshal(), Fingerprint: fmt.Sprintf("%x", fp[:]), SafetyNum: fp.String(),
		Compared: now.UTC().Truncate(time.Second),
	})
}

// Pinned returns the root pinned for org, if any.
func (s *Store) Pinned(org string) (seal.RootKey, bool, error) {
	if err := check("organisation", org); err != nil {
		return seal.RootKey{}, false, err
	}
	var k Known
	err := s.readJSON(filepath.Join(s.dir, "known", org+".json"), &k)
	if errors.Is(err, fs.ErrNotExist) {
		return seal.RootKey{}, false, nil
	}
	if err != nil {
		return seal.RootKey{}, false, err
	}
	rk, err := seal.ParseRootKey(k.RootKey)
	if err != nil || rk.Org != org {
		return seal.RootKey{}, false, fmt.Errorf("keystore: the root pinned for %q does not parse", org)
	}
	return rk, true, nil
}

// Server is a server the keystore has logged in to.
type Server struct {
	URL string `json:"url"`
	// Host is the name the server signs its checkpoints under.
	Host string `json:"host"`
	// LogKey is the server's checkpoint-signing verifier key, pinned at the first login.
	LogKey string `json:"log_key"`
	// As is the principal ("org:principal") last logged in as on this server.
	As string `json:"as,omitempty"`
}

// ServerKey returns the file-name-safe key of a server URL: its host and port.
func ServerKey(serverURL string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not a server URL (such as http://127.0.0.1:8080)", serverURL)
	}
	k := strings.ToLower(u.Host)
	if u.Scheme == "https" {
		k = "https_" + k
	}
	k = strings.NewReplacer(":", "_", "[", "", "]", "", "/", "_").Replace(k)
	return k, nil
}

// SaveServer remembers a server.
func (s *Store) SaveServer(sv Server) error {
	k, err := ServerKey(sv.URL)
	if err != nil {
		return err
	}
	return s.writeJSON(filepath.Join(s.dir, "servers", k+".json"), sv)
}

// Server returns what the keystore remembers of a server, and whether it has logged in there.
func (s *Store) Server(serverURL string) (Server, bool, error) {
	var sv Server
	k, err := ServerKey(serverURL)
	if err != nil {
		return sv, false, err
	}
	err = s.readJSON(filepath.Join(s.dir, "servers", k+".json"), &sv)
	if errors.Is(err, fs.ErrNotExist) {
		return sv, false, nil
	}
	return sv, err == nil, err
}

// Config is the keystore's defaults: the server and principal commands use when not told.
type Config struct {
	Server string `json:"server,omitempty"`
	As     string `json:"as,omitempty"`
}

// Config returns the defaults; the zero Config if none were saved.
func (s *Store) Config() (Config, error) {
	var c Config
	err := s.readJSON(filepath.Join(s.dir, "config.json"), &c)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	return c, err
}

// SaveConfig saves the defaults.
func (s *Store) SaveConfig(c Config) error {
	return s.writeJSON(filepath.Join(s.dir, "config.json"), c)
}

// Talks is a party's state of one talks on one server, kept between runs so that a host that
// rewrites history between two runs is caught.
type Talks struct {
	ID string `json:"id"`
	// Expected maps an organisation to the fingerprint (hex) of the root this party compared
	// out of band for it.
	Expected map[string]string `json:"expected,omitempty"`
	// Verifier is the record.Verifier state (record.RestoreVerifier reads it).
	Verifier json.RawMessage `json:"verifier,omitempty"`
}

// talksPath returns the file of a talks' state, per server and principal: each principal
// verifies and cosigns for itself.
func (s *Store) talksPath(serverURL, as, talksID string) (string, error) {
	k, err := ServerKey(serverURL)
	if err != nil {
		return "", err
	}
	if err := check("talks", talksID); err != nil {
		return "", err
	}
	org, principal, ok := seal.SplitHandle(as)
	if !ok {
		return "", fmt.Errorf("keystore: %q is not org:principal", as)
	}
	if _, err := s.principalDir(org, principal); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, "talks", k, org+"_"+principal, talksID+".json"), nil
}

// Talks returns the saved state of a talks, and whether there is one.
func (s *Store) Talks(serverURL, as, talksID string) (Talks, bool, error) {
	t := Talks{ID: talksID}
	p, err := s.talksPath(serverURL, as, talksID)
	if err != nil {
		return t, false, err
	}
	err = s.readJSON(p, &t)
	if errors.Is(err, fs.ErrNotExist) {
		return t, false, nil
	}
	return t, err == nil, err
}

// SaveTalks saves the state of a talks.
func (s *Store) SaveTalks(serverURL, as string, t Talks) error {
	p, err := s.talksPath(serverURL, as, t.ID)
	if err != nil {
		return err
	}
	return s.writeJSON(p, t)
}

// ListTalks lists the talks with saved state for a principal on a server.
func (s *Store) ListTalks(serverURL, as string) ([]string, error) {
	p, err := s.talksPath(serverURL, as, "x")
	if err != nil {
		return nil, err
	}
	names, err := s.list(filepath.Dir(p))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if id, ok := strings.CutSuffix(n, ".json"); ok {
			out = append(out, id)
		}
	}
	return out, nil
}

// writeSecret encrypts plaintext with passphrase, in the age format, and writes it.
func (s *Store) writeSecret(path string, plaintext []byte, passphrase string) error {
	ct, err := encrypt(plaintext, passphrase, s.workFactor)
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	return s.writeFile(path, ct)
}

// readSecret reads and decrypts a file written by writeSecret, or takes its plaintext from the
// unlocked keys.
func (s *Store) readSecret(path, passphrase string) ([]byte, error) {
	ct, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(ct)
	if s.unlocked != nil {
		if b, ok := s.unlocked.Unlocked(sum); ok {
			return b, nil
		}
	}
	if passphrase == "" {
		return nil, ErrLocked
	}
	b, err := decrypt(ct, passphrase)
	if errors.Is(err, ErrWrongPassphrase) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: %s: %w", path, err)
	}
	if s.unlocked != nil {
		s.unlocked.Unlock(sum, b)
	}
	return b, nil
}

// ageMagic opens every age file in its binary (unarmored) form.
const ageMagic = "age-encryption.org/"

// ageArmor opens an age file in its armored (PEM) form, which the keystore does not read.
const ageArmor = "-----BEGIN AGE ENCRYPTED FILE-----"

// encrypt encrypts plaintext with passphrase in the age format, with age's scrypt recipient at
// the work factor logN, clamped to [MinWorkFactor, MaxWorkFactor].
func encrypt(plaintext []byte, passphrase string, logN int) ([]byte, error) {
	if passphrase == "" {
		return nil, errors.New("an empty passphrase protects nothing")
	}
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, err
	}
	r.SetWorkFactor(max(MinWorkFactor, min(MaxWorkFactor, logN)))
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decrypt decrypts the age file ct, encrypted by encrypt, with passphrase. Its errors say what
// was wrong: not an age file, one not encrypted with a passphrase, ErrWrongPassphrase, a work
// factor above MaxWorkFactor, a damaged file.
func decrypt(ct []byte, passphrase string) ([]byte, error) {
	if !bytes.HasPrefix(ct, []byte(ageMagic)) {
		if bytes.HasPrefix(ct, []byte(ageArmor)) {
			return nil, errors.New("not an age file in its binary form (this one is armored)")
		}
		return nil, errors.New("not an age file")
	}
	if passphrase == "" {
		return nil, errors.New("an empty passphrase")
	}
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, err
	}
	id.SetMaxWorkFactor(MaxWorkFactor)
	r, err := age.Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) && !slices.Contains(nm.StanzaTypes, "scrypt") {
			return nil, fmt.Errorf("an age file not encrypted with a passphrase (its recipients: %s)", strings.Join(nm.StanzaTypes, ", "))
		}
		if errors.Is(err, age.ErrIncorrectIdentity) {
			return nil, ErrWrongPassphrase
		}
		if n, ok := scryptWorkFactor(ct); ok && n > MaxWorkFactor {
			return nil, fmt.Errorf("a scrypt work factor of %d, above the most accepted (%d)", n, MaxWorkFactor)
		}
		return nil, fmt.Errorf("a damaged age file: %w", err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("a damaged age file: %w", err)
	}
	return b, nil
}

// scryptWorkFactor returns the work factor of the age file ct's scrypt stanza, if it has one.
func scryptWorkFactor(ct []byte) (int, bool) {
	for _, line := range strings.Split(string(ct[:min(len(ct), 1024)]), "\n")[1:] {
		if strings.HasPrefix(line, "---") {
			break
		}
		if f := strings.Fields(line); len(f) == 4 && f[0] == "->" && f[1] == "scrypt" {
			n, err := strconv.Atoi(f[3])
			return n, err == nil
		}
	}
	return 0, false
}

// OpenIdentityFile decrypts an identity file with passphrase and parses the identity in it: the
// principal's keys and credential. An identity file is the keystore's
// principals/<org>/<principal>/identity.age, and what a browser keeps for the same principal:
// an age file (age-encryption.org/v1) encrypted with a passphrase (age's scrypt recipient) whose
// plaintext is the identity's secret encoding (seal.Identity.Marshal) with its credential set.
// It needs no Store. The error says what was wrong: not an age file, a wrong passphrase
// (ErrWrongPassphrase), a work factor above MaxWorkFactor, not an identity, an identity without
// a credential.
func OpenIdentityFile(data []byte, passphrase string) (*seal.Identity, error) {
	b, err := decrypt(data, passphrase)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	id, err := parseIdentity(b)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	return id, nil
}

// SealIdentityFile encrypts an identity, whose credential must be set, with passphrase into an
// identity file (as OpenIdentityFile reads it), at the scrypt work factor logN (log2 of N),
// clamped to [MinWorkFactor, MaxWorkFactor] as the Store's is: DefaultWorkFactor for a key
// opened rarely. It needs no Store; the Store's SaveIdentity writes the same bytes.
func SealIdentityFile(id *seal.Identity, passphrase string, logN int) ([]byte, error) {
	if id == nil || id.Credential() == nil {
		return nil, errors.New("identity file: an identity without a credential")
	}
	b, err := encrypt(id.Marshal(), passphrase, logN)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	return b, nil
}

// parseIdentity parses the plaintext of an identity file: an identity with its credential.
func parseIdentity(b []byte) (*seal.Identity, error) {
	id, err := seal.ParseIdentity(b)
	if err != nil {
		return nil, fmt.Errorf("not an identity: %w", err)
	}
	if id.Credential() == nil {
		return nil, errors.New("an identity without a credential")
	}
	return id, nil
}

// writeJSON writes v as indented JSON.
func (s *Store) writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return s.writeFile(path, append(b, '\n'))
}

// readJSON reads JSON into v.
func (s *Store) readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("keystore: %s: %w", path, err)
	}
	return nil
}

// writeFile writes data to path (0600), creating its directories (0700), through a temporary
// file renamed into place.
func (s *Store) writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("keystore: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("keystore: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("keystore: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	return nil
}

// list returns the names in dir, sorted, skipping temporary files; none if dir is missing.
func (s *Store) list(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// VerifiedKeeper keeps what one principal verified of each talks on one server in the
// keystore: it is the client.StateKeeper of the command-line client.
type VerifiedKeeper struct {
	s          *Store
	server, as string
}

// Verified returns the keeper of what principal as verified of talks on serverURL.
func (s *Store) Verified(serverURL, as string) *VerifiedKeeper {
	return &VerifiedKeeper{s: s, server: serverURL, as: as}
}

var _ client.StateKeeper = (*VerifiedKeeper)(nil)

// LoadVerified implements client.StateKeeper.
func (k *VerifiedKeeper) LoadVerified(talksID string) (client.VerifiedState, bool, error) {
	t, ok, err := k.s.Talks(k.server, k.as, talksID)
	if err != nil || !ok {
		return client.VerifiedState{}, false, err
	}
	return client.VerifiedState{Verifier: t.Verifier, Expected: t.Expected}, true, nil
}

// SaveVerified implements client.StateKeeper.
func (k *VerifiedKeeper) SaveVerified(talksID string, st client.VerifiedState) error {
	return k.s.SaveTalks(k.server, k.as, Talks{ID: talksID, Expected: st.Expected, Verifier: st.Verifier})
}
