package validate

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Build runs kustomize on the kustomization directory dir, as
// `kubectl kustomize dir` (or `kustomize build dir`) would.
func Build(dir string) (resmap.ResMap, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("validate: kustomize build %s: %w", dir, err)
	}
	return rm, nil
}

// BuildYAML returns the multi-document YAML that Build produces, ready for
// kubectl apply -f -.
func BuildYAML(dir string) ([]byte, error) {
	rm, err := Build(dir)
	if err != nil {
		return nil, err
	}
	return rm.AsYaml()
}

// Objects are the resources of a build, decoded into the Kubernetes API
// types.
type Objects struct {
	Namespaces           []corev1.Namespace
	ConfigMaps           []corev1.ConfigMap
	Secrets              []corev1.Secret
	Services             []corev1.Service
	Deployments          []appsv1.Deployment
	StatefulSets         []appsv1.StatefulSet
	PodDisruptionBudgets []policyv1.PodDisruptionBudget
}

// Decode decodes every resource of rm strictly: an unknown or misspelt
// field (readinesProbe), a duplicate field, a wrong type or a kind this
// package does not know is an error. kubectl apply would reject or, worse,
// silently drop such fields.
func Decode(rm resmap.ResMap) (*Objects, error) {
	var objs Objects
	for _, r := range rm.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		gvk := r.GetApiVersion() + "/" + r.GetKind()
		id := fmt.Sprintf("%s %s/%s", gvk, r.GetNamespace(), r.GetName())
		var target any
		switch gvk {
		case "v1/Namespace":
			objs.Namespaces = append(objs.Namespaces, corev1.Namespace{})
			target = &objs.Namespaces[len(objs.Namespaces)-1]
		case "v1/ConfigMap":
			objs.ConfigMaps = append(objs.ConfigMaps, corev1.ConfigMap{})
			target = &objs.ConfigMaps[len(objs.ConfigMaps)-1]
		case "v1/Secret":
			objs.Secrets = append(objs.Secrets, corev1.Secret{})
			target = &objs.Secrets[len(objs.Secrets)-1]
		case "v1/Service":
			objs.Services = append(objs.Services, corev1.Service{})
			target = &objs.Services[len(objs.Services)-1]
		case "apps/v1/Deployment":
			objs.Deployments = append(objs.Deployments, appsv1.Deployment{})
			target = &objs.Deployments[len(objs.Deployments)-1]
		case "apps/v1/StatefulSet":
			objs.StatefulSets = append(objs.StatefulSets, appsv1.StatefulSet{})
			target = &objs.StatefulSets[len(objs.StatefulSets)-1]
		case "policy/v1/PodDisruptionBudget":
			objs.PodDisruptionBudgets = append(objs.PodDisruptionBudgets, policyv1.PodDisruptionBudget{})
			target = &objs.PodDisruptionBudgets[len(objs.PodDisruptionBudgets)-1]
		default:
			return nil, fmt.Errorf("validate: %s: kind not known to deploy/validate (add it to Decode)", id)
		}
		strict, err := kjson.UnmarshalStrict(data, target, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
		if err != nil {
			return nil, fmt.Errorf("validate: %s: %w", id, err)
		}
		if len(strict) > 0 {
			return nil, fmt.Errorf("validate: %s: %v", id, strict)
		}
	}
	return &objs, nil
}

// Workload is a Deployment or StatefulSet, seen through what they share.
type Workload struct {
	Kind      string // "Deployment" or "StatefulSet"
	Name      string
	Namespace string
	Replicas  int32 // 1 when unset, as the API server defaults it
	Selector  map[string]string
	Template  corev1.PodTemplateSpec
}

// Workloads returns the Deployments and then the StatefulSets.
func (o *Objects) Workloads() []Workload {
	var ws []Workload
	replicas := func(r *int32) int32 {
		if r == nil {
			return 1
		}
		return *r
	}
	selector := func(s map[string]string) map[string]string { return s }
	for _, d := range o.Deployments {
		w := Workload{Kind: "Deployment", Name: d.Name, Namespace: d.Namespace, Replicas: replicas(d.Spec.Replicas), Template: d.Spec.Template}
		if d.Spec.Selector != nil {
			w.Selector = selector(d.Spec.Selector.MatchLabels)
		}
		ws = append(ws, w)
	}
	for _, s := range o.StatefulSets {
		w := Workload{Kind: "StatefulSet", Name: s.Name, Namespace: s.Namespace, Replicas: replicas(s.Spec.Replicas), Template: s.Spec.Template}
		if s.Spec.Selector != nil {
			w.Selector = selector(s.Spec.Selector.MatchLabels)
		}
		ws = append(ws, w)
	}
	return ws
}

// Secret returns the Secret with the given namespace and name.
func (o *Objects) Secret(namespace, name string) (corev1.Secret, bool) {
	for _, s := range o.Secrets {
		if s.Namespace == namespace && s.Name == name {
			return s, true
		}
	}
	return corev1.Secret{}, false
}

// ConfigMap returns the ConfigMap with the given namespace and name.
func (o *Objects) ConfigMap(namespace, name string) (corev1.ConfigMap, bool) {
	for _, c := range o.ConfigMaps {
		if c.Namespace == namespace && c.Name == name {
			return c, true
		}
	}
	return corev1.ConfigMap{}, false
}

// SecretValue returns a Secret's value for key, from data or stringData.
func SecretValue(s corev1.Secret, key string) (string, bool) {
	if v, ok := s.Data[key]; ok {
		return string(v), true
	}
	v, ok := s.StringData[key]
	return v, ok
}
