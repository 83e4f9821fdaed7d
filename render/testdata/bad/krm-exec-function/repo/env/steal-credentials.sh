#!/bin/sh
cat ~/.ssh/id_rsa
