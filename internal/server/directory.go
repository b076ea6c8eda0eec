package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/seal"
)

func unwrapHuma(hc huma.Context) (*http.Request, http.ResponseWriter) { return humago.Unwrap(hc) }

type OrgPath struct {
	Org string `path:"org" maxLength:"64" doc:"Organisation id."`
}

type CredPath struct {
	Credential string `path:"credential" maxLength:"64" doc:"Credential id (hex)."`
}

// directoryRoutes are the organisations, credentials and logins: the host's directory of who
// may speak, which the talks' records then pin.
func (s *Server) directoryRoutes() {
	register(s, op{id: "get-log-key", method: http.MethodGet, path: "/v1/log-key", summary: "The host's checkpoint-signing key, to pin", tag: "record"},
		func(ctx context.Context, _ *struct{}) (*body[api.LogKey], error) {
			vk, err := s.logKey.VerifierKey(s.cfg.Host)
			return reply(api.LogKey{Host: s.cfg.Host, Verifier: vk}, err)
		})

	register(s, op{id: "register-organisation", method: http.MethodPost, path: "/v1/organisations", summary: "Register an organisation's root key", tag: "directory", status: http.StatusCreated},
		func(ctx context.Context, in *struct{ Body api.RegisterOrganisation }) (*body[api.Organisation], error) {
			if err := s.limitAnonymous(ctx); err != nil {
				return nil, err
			}
			k, err := seal.ParseRootKey(in.Body.RootKey)
			if err != nil {
				return nil, err
			}
			o := backchannel.Organisation{ID: k.Org, RootKey: k.Marshal(), Name: in.Body.Name}
			if err := s.store.PutOrganisation(ctx, o); err != nil {
				if errors.Is(err, backchannel.ErrExists) {
					return nil, problemf(api.ProblemExists, "organisation %q is registered with another root key; a root is never replaced", k.Org)
				}
				return nil, err
			}
			return reply(organisationOf(o))
		})

	register(s, op{id: "get-organisation", method: http.MethodGet, path: "/v1/organisations/{org}", summary: "An organisation's root key and fingerprint", tag: "directory"},
		func(ctx context.Context, in *OrgPath) (*body[api.Organisation], error) {
			o, err := s.store.Organisation(ctx, in.Org)
			if err != nil {
				return nil, err
			}
			return reply(organisationOf(o))
		})

	register(s, op{id: "publish-credential", method: http.MethodPost, path: "/v1/credentials", summary: "Publish a credential (first issue or rotation)", tag: "directory", status: http.StatusCreated},
		func(ctx context.Context, in *struct{ Body api.PublishCredential }) (*body[api.Credential], error) {
			if err := s.limitAnonymous(ctx); err != nil {
				return nil, err
			}
			c, err := seal.ParseCredential(in.Body.Credential)
			if err != nil {
				return nil, err
			}
			root, err := s.rootOf(ctx, c.Org)
			if err != nil {
				return nil, err
			}
			trust, err := seal.NewTrust(root)
			if err != nil {
				return nil, err
			}
			if err := trust.VerifyCredential(c, c.NotBefore); err != nil {
				return nil, err
			}
			sc := backchannel.StoredCredential{ID: c.ID().String(), Principal: c.Principal, Org: c.Org, Serial: c.Serial, Data: c.Marshal()}
			if err := s.store.PutCredential(ctx, sc); err != nil {
				return nil, err
			}
			return reply(credentialOf(sc))
		})

	register(s, op{id: "get-credential", method: http.MethodGet, path: "/v1/credentials/{credential}", summary: "A published credential", tag: "directory"},
		func(ctx context.Context, in *CredPath) (*body[api.Credential], error) {
			sc, err := s.store.Credential(ctx, in.Credential)
			if err != nil {
				return nil, err
			}
			return reply(credentialOf(sc))
		})

	register(s, op{id: "list-principal-credentials", method: http.MethodGet, path: "/v1/organisations/{org}/principals/{principal}/credentials", summary: "Every credential of a principal, oldest first", tag: "directory"},
		func(ctx context.Context, in *struct {
			OrgPath
			Principal string `path:"principal" maxLength:"64"`
		}) (*body[[]api.Credential], error) {
			all, err := s.store.CredentialsOf(ctx, in.Principal)
			if err != nil {
				return nil, err
			}
			out := []api.Credential{}
			for _, sc := range all {
				if sc.Org == in.Org {
					c, err := credentialOf(sc)
					if err != nil {
						return nil, err
					}
					out = append(out, c)
				}
			}
			return reply(out, nil)
		})

	register(s, op{id: "revoke-credential", method: http.MethodPost, path: "/v1/credentials/{credential}/revocation", summary: "Publish a root's revocation of a credential", tag: "directory"},
		func(ctx context.Context, in *struct {
			CredPath
			Body api.RevokeCredential
		}) (*body[api.Credential], error) {
			return reply(s.revoke(ctx, in.Credential, in.Body.Revocation))
		})

	register(s, op{id: "login-challenge", method: http.MethodPost, path: "/v1/auth/challenge", summary: "A login challenge for a credential", tag: "auth"},
		func(ctx context.Context, in *struct{ Body api.ChallengeRequest }) (*body[api.Challenge], error) {
			c, err := s.challenge(ctx, in.Body)
			if err != nil {
				return nil, err
			}
			return reply(*c, nil)
		})

	register(s, op{id: "login-token", method: http.MethodPost, path: "/v1/auth/token", summary: "Exchange a signed challenge for a bearer token", tag: "auth"},
		func(ctx context.Context, in *struct{ Body api.TokenRequest }) (*body[api.Token], error) {
			t, err := s.token(ctx, in.Body)
			if err != nil {
				return nil, err
			}
			return reply(*t, nil)
		})
}

// rootOf returns the registered root of an organisation.
func (s *Server) rootOf(ctx context.Context, org string) (seal.RootKey, error) {
	o, err := s.store.Organisation(ctx, org)
	if errors.Is(err, backchannel.ErrNotFound) {
		return seal.RootKey{}, problemf(api.ProblemUnknownOrganisation, "organisation %q is not registered: register its root with POST /v1/organisations", org)
	}
	if err != nil {
		return seal.RootKey{}, err
	}
	return seal.ParseRootKey(o.RootKey)
}

// revoke stores a revocation in the directory and on the record of every talks where the
// credential is published, so that each party's trust refuses it from then on.
func (s *Server) revoke(ctx context.Context, id string, data []byte) (api.Credential, error) {
	v, err := seal.ParseRevocation(data)
	if err != nil {
		return api.Credential{}, err
	}
	if v.Credential.String() != id {
		return api.Credential{}, problemf(api.ProblemMalformed, "the revocation names credential %s, not %s", v.Credential, id)
	}
	root, err := s.rootOf(ctx, v.Org)
	if err != nil {
		return api.Credential{}, err
	}
	trust, err := seal.NewTrust(root)
	if err != nil {
		return api.Credential{}, err
	}
	if err := trust.AddRevocation(v); err != nil {
		return api.Credential{}, err
	}
	if err := s.store.RevokeCredential(ctx, id, v.Marshal()); err != nil {
		return api.Credential{}, err
	}
	all, err := s.store.TalksOf(ctx, v.Org)
	if err != nil {
		return api.Credential{}, err
	}
	for _, t := range all {
		_, err := s.withBook(ctx, t.ID, func(a *appender) error {
			if !a.b.published(v.Credential) {
				return nil
			}
			if err := checkDuplicate(a.tx, v.Marshal()); err != nil {
				return err
			}
			if err := a.b.Trust.AddRevocation(v); err != nil {
				return err
			}
			a.add(backchannel.Event{Type: backchannel.EventRevocation, Data: v.Marshal()})
			return nil
		})
		if err != nil {
			return api.Credential{}, err
		}
	}
	sc, err := s.store.Credential(ctx, id)
	if err != nil {
		return api.Credential{}, err
	}
	return credentialOf(sc)
}

func organisationOf(o backchannel.Organisation) (api.Organisation, error) {
	k, err := seal.ParseRootKey(o.RootKey)
	if err != nil {
		return api.Organisation{}, err
	}
	return api.Organisation{ID: o.ID, Name: o.Name, RootKey: o.RootKey, Fingerprint: k.Fingerprint().String()}, nil
}

func credentialOf(sc backchannel.StoredCredential) (api.Credential, error) {
	c, err := seal.ParseCredential(sc.Data)
	if err != nil {
		return api.Credential{}, err
	}
	return api.Credential{
		ID: sc.ID, Org: c.Org, Principal: c.Principal, Name: c.Name, Title: c.Title, Rank: int(c.Rank),
		Serial: c.Serial, NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
		Revoked: sc.Revocation != nil, Data: sc.Data, Revocation: sc.Revocation,
	}, nil
}
