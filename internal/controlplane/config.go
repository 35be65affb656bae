package controlplane

import (
	"fmt"
	"slices"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// unknownUserToken is the bearer token RESTConfigFor gives an unknown user:
// no user has it, so every request fails with 401 Unauthorized.
const unknownUserToken = "unknown-user"

// RESTConfig returns a new client-go configuration for AdminUser.
func (cp *ControlPlane) RESTConfig() *rest.Config { return cp.RESTConfigFor(AdminUser) }

// RESTConfigFor returns a new client-go configuration for user, AdminUser or
// UnprivilegedUser; callers may change it. For any other user every request
// fails with 401 Unauthorized.
func (cp *ControlPlane) RESTConfigFor(user string) *rest.Config {
	token, ok := cp.tokens[user]
	if !ok {
		token = unknownUserToken
	}
	return &rest.Config{
		Host:            cp.Host(),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: slices.Clone(cp.ca)},
	}
}

// KubeconfigPath returns the path of a kubeconfig file for AdminUser.
func (cp *ControlPlane) KubeconfigPath() string { return cp.kubeconfigPath(AdminUser) }

// KubeconfigFor returns the path of a kubeconfig file for user, AdminUser or
// UnprivilegedUser.
func (cp *ControlPlane) KubeconfigFor(user string) (string, error) {
	if _, ok := cp.tokens[user]; !ok {
		return "", fmt.Errorf("no kubeconfig for user %q: only %q and %q exist", user, AdminUser, UnprivilegedUser)
	}
	return cp.kubeconfigPath(user), nil
}

func (cp *ControlPlane) kubeconfigPath(user string) string {
	return cp.path(user + ".kubeconfig")
}

// writeKubeconfig writes the kubeconfig file for user. The CA is embedded
// rather than referenced so that the file stays valid wherever it is copied.
func (cp *ControlPlane) writeKubeconfig(user string) error {
	const name = "controlplane"
	config := clientcmdapi.NewConfig()
	config.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   cp.Host(),
		CertificateAuthorityData: cp.ca,
	}
	config.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: cp.tokens[user]}
	config.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user, Namespace: "default"}
	config.CurrentContext = name
	path := cp.kubeconfigPath(user)
	if err := clientcmd.WriteToFile(*config, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
