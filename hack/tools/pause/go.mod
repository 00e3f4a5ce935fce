module web4ai.io/hack/tools/pause

go 1.26.0
