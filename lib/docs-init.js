// Starts Swagger UI on the docs page (functions/docs.ts), in the browser. A file of its own rather
// than an inline script, so that the page's content security policy can refuse every inline script.
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
  deepLinking: true,
  displayOperationId: true,
  displayRequestDuration: true,
  // Swagger UI's validator badge asks validator.swagger.io to judge the document (it leaves OpenAPI
  // 3.1 documents alone today): off, so that no request ever leaves the API.
  validatorUrl: null,
});
