package main

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// whoami returns the caller's Kubernetes user name as the API server authenticated it, from a
// SelfSubjectReview (authentication.k8s.io/v1; the ClusterRole system:basic-user lets every
// authenticated user create one): what the operators' controls record as who. The error says
// what failed.
func whoami(ctx context.Context, client kubernetes.Interface) (string, error) {
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("who am I (SelfSubjectReview): %w", err)
	}
	if review.Status.UserInfo.Username == "" {
		return "", fmt.Errorf("who am I (SelfSubjectReview): the API server returned no user name")
	}
	return review.Status.UserInfo.Username, nil
}
