package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Scope tells whether objects of a kind live in a namespace. During a sync the cluster's
// discovery answers (a RESTMapper); offline, BuiltinScope and the CRDs of the render do.
type Scope interface {
	// Namespaced reports whether gk is namespaced; known is false when the scope has never
	// heard of gk, and then namespaced is meaningless.
	Namespaced(gk schema.GroupKind) (namespaced, known bool)
}

// BuiltinScope knows the kinds served by Kubernetes v1.37 itself.
var BuiltinScope Scope = builtinScope{}

type builtinScope struct{}

func (builtinScope) Namespaced(gk schema.GroupKind) (bool, bool) {
	namespaced, known := builtinKinds[gk]
	return namespaced, known
}

// builtinKinds maps each kind of Kubernetes' own API groups to whether it is namespaced.
// TestBuiltinScopeMatchesDiscovery checks it against a real kube-apiserver.
var builtinKinds = map[schema.GroupKind]bool{}

func init() {
	add := func(namespaced bool, group string, kinds ...string) {
		for _, k := range kinds {
			builtinKinds[schema.GroupKind{Group: group, Kind: k}] = namespaced
		}
	}
	add(true, "", "Binding", "ConfigMap", "Endpoints", "Event", "LimitRange", "PersistentVolumeClaim",
		"Pod", "PodTemplate", "ReplicationController", "ResourceQuota", "Secret", "Service", "ServiceAccount")
	add(false, "", "ComponentStatus", "Namespace", "Node", "PersistentVolume")
	add(true, "apps", "ControllerRevision", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet")
	add(true, "autoscaling", "HorizontalPodAutoscaler")
	add(true, "batch", "CronJob", "Job")
	add(true, "coordination.k8s.io", "Lease", "LeaseCandidate")
	add(true, "discovery.k8s.io", "EndpointSlice")
	add(true, "events.k8s.io", "Event")
	add(true, "networking.k8s.io", "Ingress", "NetworkPolicy")
	add(false, "networking.k8s.io", "IngressClass", "IPAddress", "ServiceCIDR")
	add(true, "policy", "PodDisruptionBudget")
	add(true, "rbac.authorization.k8s.io", "Role", "RoleBinding")
	add(false, "rbac.authorization.k8s.io", "ClusterRole", "ClusterRoleBinding")
	add(true, "storage.k8s.io", "CSIStorageCapacity")
	add(false, "storage.k8s.io", "CSIDriver", "CSINode", "StorageClass", "VolumeAttachment", "VolumeAttributesClass")
	add(false, "scheduling.k8s.io", "PriorityClass")
	add(false, "node.k8s.io", "RuntimeClass")
	add(false, "apiextensions.k8s.io", "CustomResourceDefinition")
	add(false, "apiregistration.k8s.io", "APIService")
	add(false, "admissionregistration.k8s.io", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding")
	add(false, "certificates.k8s.io", "CertificateSigningRequest", "ClusterTrustBundle")
	add(true, "certificates.k8s.io", "PodCertificateRequest")
	add(false, "flowcontrol.apiserver.k8s.io", "FlowSchema", "PriorityLevelConfiguration")
	add(true, "resource.k8s.io", "ResourceClaim", "ResourceClaimTemplate")
	add(false, "resource.k8s.io", "DeviceClass", "ResourceSlice", "DeviceTaintRule")
	add(false, "internal.apiserver.k8s.io", "StorageVersion")
	add(false, "storagemigration.k8s.io", "StorageVersionMigration")
	add(false, "authentication.k8s.io", "SelfSubjectReview", "TokenReview")
	add(false, "authorization.k8s.io", "SelfSubjectAccessReview", "SelfSubjectRulesReview", "SubjectAccessReview")
	add(true, "authorization.k8s.io", "LocalSubjectAccessReview")
}

// crdScope knows the kinds defined by the CustomResourceDefinitions of one render and falls
// back to next for everything else.
type crdScope struct {
	kinds map[schema.GroupKind]bool
	next  Scope
}

func newCRDScope(objs []*unstructured.Unstructured, next Scope) crdScope {
	s := crdScope{kinds: map[schema.GroupKind]bool{}, next: next}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" || o.GroupVersionKind().Group != "apiextensions.k8s.io" {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		s.kinds[schema.GroupKind{Group: group, Kind: kind}] = scope != "Cluster"
	}
	return s
}

func (s crdScope) Namespaced(gk schema.GroupKind) (bool, bool) {
	if namespaced, ok := s.kinds[gk]; ok {
		return namespaced, true
	}
	return s.next.Namespaced(gk)
}
