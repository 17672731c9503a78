package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/dlibot/dlibot/pkg/host"
)

func init() { lambdaHook = runLambda }

// runLambda runs the function named by _HANDLER under the AWS Lambda runtime
// (main calls it when AWS_LAMBDA_RUNTIME_API is set). It returns only on a
// start-up error: a bad configuration or an unknown handler.
func runLambda() error {
	ctx := context.Background()
	cfg, err := host.LoadConfig(ctx)
	if err != nil {
		return err
	}
	l, err := host.NewLambda(ctx, host.LambdaOptions{Config: cfg, Handler: os.Getenv("_HANDLER")})
	if err != nil {
		return err
	}
	lambda.StartWithOptions(l, lambda.WithEnableSIGTERM(l.Close))
	return nil
}
