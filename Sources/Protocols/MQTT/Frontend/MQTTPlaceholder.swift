enum MQTTFrontendPlaceholder {}
